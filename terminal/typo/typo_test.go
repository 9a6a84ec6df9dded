package typo

import "testing"

func TestDistance(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"status", "status", 0}, {"", "abc", 3}, {"abc", "", 3},
		{"stauts", "status", 1}, // two neighbours swapped: one edit
		{"stats", "status", 1}, {"statuss", "status", 1}, {"ststus", "status", 1},
		{"otta", "ota", 1}, {"kcv", "log", 3},
		{"ca", "abc", 3}, // each byte edited at most once (Levenshtein says 2)
	} {
		if got := Distance(c.a, c.b); got != c.want {
			t.Errorf("Distance(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
		if got := Distance(c.b, c.a); got != c.want {
			t.Errorf("Distance(%q, %q) = %d, want %d (symmetric)", c.b, c.a, got, c.want)
		}
	}
}
