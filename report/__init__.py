"""bnnbench reports: tidy frames from the results store -> tables, figures, Markdown + HTML."""
