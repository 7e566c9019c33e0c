"""Errors a user can act on: each message names the problem and the fix."""


class RnnlabError(Exception):
    """Base class for every error the CLI reports without a traceback."""


class ConfigError(RnnlabError):
    """A configuration value is unknown, missing or out of range."""


class DataError(RnnlabError):
    """Input data is missing, corrupted or not in the expected layout."""


class DownloadError(DataError):
    """A download failed or did not match its checksum."""


class PipelineError(RnnlabError):
    """A `dvc repro` of the pipeline failed (its own output says where)."""
