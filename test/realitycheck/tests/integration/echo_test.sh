echo echo ran
