module sigil.dev/bench/go-client

go 1.19
