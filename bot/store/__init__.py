"""The application database: engine, sessions, typed models and Alembic migrations."""
