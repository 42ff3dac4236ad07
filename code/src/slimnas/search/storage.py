"""The study's storage: an Optuna URL or a journal file, opened with one-line errors that never show a secret.

A password can reach slimnas in a URL's user-info (``postgresql://user:pw@host/db``), in its query
(``?password=pw``), percent-encoded or not. None of it is printed or written: messages show the URL with
user-info dropped and secret query values masked, and driver messages have every form of the secret
masked. Better still, keep it off the command line (where ``ps`` and the shell history keep it): put the
URL in ``SLIMNAS_STORAGE``, or the password in libpq's ``PGPASSWORD`` / ``~/.pgpass``.
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path
from urllib.parse import parse_qsl, unquote

import optuna
from optuna.storages import JournalStorage, RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.storages.journal import JournalFileBackend

from ..errors import ConfigError

STORAGE_ENV = "SLIMNAS_STORAGE"  # the storage URL, kept out of the command line and the shell history
_SECRET_KEY = re.compile(r"pass|pwd|secret|token|key|auth|cred", re.IGNORECASE)
_QUERY_SECRET = re.compile(r"(?P<key>[\w.-]*(?:pass|pwd|secret|token|key|auth|cred)[\w.-]*)=(?P<value>[^&\s'\"]*)",
                           re.IGNORECASE)


def storage_url(given: str | None, default: str) -> str:
    """The URL to open: ``--storage``, else ``$SLIMNAS_STORAGE``, else ``default``."""
    return given or os.environ.get(STORAGE_ENV) or default


def storage_source(given: str | None) -> str:
    """How messages name where the URL came from."""
    return "--storage" if given or not os.environ.get(STORAGE_ENV) else f"${STORAGE_ENV}"


def shown(url: str) -> str:
    """``url`` as it may be printed: no user-info, no secret query value (malformed URLs included)."""
    scheme, sep, rest = url.partition("://")
    if sep:
        head, _, query = rest.partition("?")
        url = f"{scheme}://{head.rpartition('@')[2]}" + (f"?{query}" if query else "")
    elif "@" in url:  # not a URL SQLAlchemy can parse, but it may still hold a password
        url = re.match(r"[\w+.-]*", url).group() + "…@" + url.rpartition("@")[2]
    return _QUERY_SECRET.sub(lambda m: f"{m['key']}=***", url)


def secrets(url: str) -> list[str]:
    """Every form in which ``url``'s secrets could appear in a driver's message, longest first."""
    rest = url.partition("://")[2] or url
    creds = rest.partition("?")[0].rpartition("@")[0] if "@" in rest else ""
    found = [creds, creds.partition(":")[2]] if ":" in creds else []
    for key, value in parse_qsl(rest.partition("?")[2], keep_blank_values=True):
        if _SECRET_KEY.search(key):
            found.append(value)
    found += [m["value"] for m in _QUERY_SECRET.finditer(url)]
    found += [unquote(s) for s in found]
    return sorted({s for s in found if s}, key=len, reverse=True)


def redact(text: str, url: str) -> str:
    """``text`` (a driver's message) with every form of ``url``'s secrets masked."""
    for secret in secrets(url):
        text = text.replace(secret, "***")
    return _QUERY_SECRET.sub(lambda m: f"{m['key']}=***", text)


class RetryLostTrial(RetryHeartbeatStaleTrialCallback):
    """Optuna's retry of a trial whose heartbeat stopped, saying so in the search log."""

    def __init__(self, max_retry: int):
        super().__init__(max_retry)
        self.max_retry = max_retry

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        runs = len(trial.system_attrs.get("retry_history", [])) + 1  # this trial's lineage, the lost one included
        then = ("running it again with the same parameters" if runs <= self.max_retry
                else f"not retried: lost {runs} times")
        print(f"trial {trial.number:>4} FAIL     its worker stopped answering (no heartbeat); {then}", flush=True)
        super().__call__(study, trial)


def _storage_file(url: str) -> Path | None:
    """The file a journal or SQLite storage lives in (None for a database server)."""
    if url.endswith(".log") and "://" not in url:
        return Path(url)
    if url.startswith("sqlite:///") and url[len("sqlite:///"):] not in ("", ":memory:"):
        return Path(url[len("sqlite:///"):])
    return None


def check_storage(url: str, source: str = "--storage") -> None:
    """Refuse, before any work, a storage file whose folder is missing or is a file."""
    path = _storage_file(url)
    if path is None:
        return
    if path.is_dir():
        raise ConfigError(f"{source} {shown(url)}: {path} is a folder; name the file to keep the study in")
    if not path.parent.is_dir():
        raise ConfigError(f"{source} {shown(url)}: the folder {path.parent} does not exist; create it first "
                          f"(the study file is made inside it)")
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise ConfigError(f"{source} {shown(url)}: the folder {path.parent} is not writable")


def make_storage(url: str, heartbeat: int = 30, retries: int = 1, source: str = "--storage"):
    """An Optuna storage for ``url``: a journal file (``*.log``) or any RDB URL, with heartbeats on databases."""
    check_storage(url, source)
    if url.endswith(".log") and "://" not in url:
        try:
            return JournalStorage(JournalFileBackend(url))
        except OSError as e:
            raise ConfigError(f"{source} {shown(url)}: cannot open the journal file ({e.strerror})") from None
    kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {"pool_pre_ping": True}
    try:
        with warnings.catch_warnings():  # heartbeats are marked experimental; slimnas relies on them knowingly
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            beats = {"heartbeat_interval": heartbeat, "grace_period": 2 * heartbeat,
                     "heartbeat_stale_trial_callback": RetryLostTrial(retries)} if heartbeat > 0 else {}
            return RDBStorage(url, engine_kwargs=kwargs, **beats)
    except ImportError:  # the database driver is missing
        driver = "'psycopg[binary]'" if url.startswith("postgresql") else "the driver SQLAlchemy names in the URL"
        raise ConfigError(f"{source} {shown(url)}: the database driver is not installed "
                          f"(pip install {driver})") from None
    except Exception as e:  # noqa: BLE001 - unreachable host, bad credentials, unwritable file: SQLAlchemy's many kinds
        reason = redact(str(getattr(e, "orig", None) or e).strip().splitlines()[0], url)
        raise ConfigError(f"{source} {shown(url)}: cannot open the study database ({reason})") from None
