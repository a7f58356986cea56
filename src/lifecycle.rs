//! OS signals and systemd notifications.
