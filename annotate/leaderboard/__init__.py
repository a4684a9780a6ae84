"""The model leaderboard: Bradley-Terry ratings of the source models and the board pages show."""
