package schemaver

import (
	"errors"
	"testing"
)

func TestCompat(t *testing.T) {
	for _, c := range []struct {
		n      int
		compat []byte
		cur    int
		want   int
		ok     bool
	}{
		{1, nil, 1, 1, true},
		{1, nil, 3, 1, true},  // older: the build migrates it
		{4, nil, 3, 0, false}, // newer, says nothing
		{4, []byte("3"), 3, 3, true},
		{4, []byte("4"), 3, 0, false},
		{3, []byte("4"), 3, 0, false}, // compat beyond the schema
		{3, []byte("x"), 3, 0, false},
		{3, []byte("0"), 3, 0, false},
	} {
		got, err := Compat(c.n, c.compat, c.cur)
		if c.ok != (err == nil) || got != c.want || err != nil && !errors.Is(err, ErrUnusable) {
			t.Errorf("Compat(%d, %q, %d) = %d, %v", c.n, c.compat, c.cur, got, err)
		}
	}
}
