echo alpha ran
