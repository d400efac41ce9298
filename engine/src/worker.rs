//! One pinned thread: owns an I/O backend and the RTC state of its routers.
