echo foxtrot ran
