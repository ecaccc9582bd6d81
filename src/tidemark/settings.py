"""One settings object, read from ``TIDEMARK_*`` environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Runtime configuration; every field can be set as ``TIDEMARK_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="TIDEMARK_", extra="ignore")

    data_dir: Path = Field(default=Path("data"), description="Folder for the embedded database.")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; defaults to a SQLite file in data_dir. "
        "Use postgresql+psycopg://user@host/db for PostgreSQL.",
    )
    capture_batch_size: int = Field(default=2000, ge=1, le=20000)
    log_level: str = "INFO"
    max_request_bytes: int = Field(
        default=64 * 1024 * 1024, ge=1024, description="Largest request body the API accepts."
    )
    worker_in_process: bool | None = Field(
        default=None,
        description="Run an event worker inside `tidemark serve`; by default only on SQLite "
        "(on PostgreSQL run `tidemark worker` processes beside the API).",
    )
    worker_batch_size: int = Field(default=1000, ge=1, le=10000)
    worker_lease_seconds: float = Field(default=60.0, gt=0)
    worker_poll_seconds: float = Field(default=0.2, gt=0)
    worker_max_attempts: int = Field(default=5, ge=1, le=100)
    llm_base_url: str | None = Field(
        default=None,
        description="An OpenAI-compatible endpoint (e.g. http://127.0.0.1:8080/v1); the "
        "assistant then lets the model route questions to the look-ups and word answers.",
    )
    llm_model: str | None = Field(default=None, description="The model name at that endpoint.")
    llm_api_key: SecretStr | None = Field(default=None, description="Its API key, if it needs one.")
    llm_timeout_seconds: float = Field(default=30.0, gt=0)
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)

    def resolved_database_url(self) -> str:
        """The database URL, falling back to the embedded SQLite file."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'tidemark.db').resolve()}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
