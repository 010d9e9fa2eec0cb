package expiredcreds

// PassesFilterPattern evaluates FilterPattern on event with the documented
// semantics, under both readings of an unquoted term, for the external
// tests that cannot import this package's test helpers.
func PassesFilterPattern(event string) (bool, error) {
	fp, err := parseFilterPattern(FilterPattern())
	if err != nil {
		return false, err
	}
	return fp.match(event, wordTerms) && fp.match(event, substringTerms), nil
}

// FirstLine is firstLine, for the external tests.
var FirstLine = firstLine
