"""Small models, data and scripts for the VisdomLogger tests (DDP and LightningCLI subprocesses)."""
