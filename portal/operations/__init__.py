"""Running the portal: backups and restores of its database."""
