"""kilowatch's tests; a package so that tests and bench scripts can import tests.support."""
