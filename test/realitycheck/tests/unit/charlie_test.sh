echo charlie ran
