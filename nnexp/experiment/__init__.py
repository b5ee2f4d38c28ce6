"""One run of an experiment, told to an observer: build, train, measure, diagnose. The run never
picks a store and never reads `cfg.sweep`; what a sweep decided for it arrives as `RunOptions`."""
