echo delta ran
