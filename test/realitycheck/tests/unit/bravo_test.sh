echo bravo ran
