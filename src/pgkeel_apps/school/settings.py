"""The school app's settings: its sample data (DEMO_*) and the at-risk threshold."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class SchoolSettings(BaseSettings):
    """DEMO_SCHOOLS, DEMO_STUDENTS, DEMO_COURSES, DEMO_ATTENDANCES,
    SCHOOL_AT_RISK_ATTENDANCE."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True,
                                      use_attribute_docstrings=True)

    demo_schools: int = Field(20, ge=1, le=10_000)
    """Sample organizations `org-1` ... `org-N` that become schools (at most DEMO_ORGS)."""
    demo_students: int = Field(20_000, ge=1, le=10_000_000)
    """Sample students, spread over the schools; each is one of its school's sample users
    (so at most DEMO_USERS / DEMO_ORGS per school)."""
    demo_courses: int = Field(500, ge=1, le=1_000_000)
    """Sample courses, spread over the schools; each student takes up to four."""
    demo_attendances: int = Field(50_000, ge=0, le=100_000_000)
    """About how many attendance records to load, in whole sessions per course (`2000000` is
    the report's size; about 4.5 minutes of start-up on a loaded 2-core machine)."""
    school_at_risk_attendance: float = Field(0.80, gt=0, le=1)
    """A student is at risk below this 30-day attendance rate (or with falling feedback)."""
