# fuzz.mk - libFuzzer targets (make fuzz). Filled in by the fuzzing work.
.PHONY: fuzz
fuzz:
	@echo "no fuzz targets yet"
