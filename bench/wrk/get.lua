-- wrk: a plain GET (the framework's floor).
wrk.method = "GET"
