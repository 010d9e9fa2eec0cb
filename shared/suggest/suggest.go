package suggest

import "strings"

// MaxDistance is the largest edit distance Closest still calls a typo:
// two edits catch a dropped and a doubled letter, while three would
// start to suggest unrelated short words.
const MaxDistance = 2

// Closest returns the option s most likely misspells, or "" when none is
// close. Case is ignored; an option equal to s but for case wins, then
// the smallest optimal-string-alignment distance (insertions, deletions,
// substitutions and adjacent transpositions) of at most MaxDistance, the
// first such option on a tie; failing that, the one option s is a prefix
// of (at least three letters: "cred" for credential-process).
func Closest(s string, options []string) string {
	low := strings.ToLower(s)
	best, bestD := "", MaxDistance+1
	for _, o := range options {
		if strings.EqualFold(o, s) {
			return o
		}
		if d := Distance(low, strings.ToLower(o)); d < bestD {
			best, bestD = o, d
		}
	}
	if best != "" || len(s) < 3 {
		return best
	}
	for _, o := range options {
		if strings.HasPrefix(strings.ToLower(o), low) {
			if best != "" {
				return ""
			}
			best = o
		}
	}
	return best
}

// Distance is the optimal string alignment distance between a and b,
// counted in bytes: the fewest insertions, deletions, substitutions and
// swaps of two adjacent bytes that turn a into b, no substring edited
// twice.
func Distance(a, b string) int {
	// Three rows: a transposition looks two rows back.
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}
