// Package schemaver decides whether a build can use a stored layout (the
// buckets or file a package keeps) by its schema and compat versions. The
// compat version is the oldest schema whose builds can use the layout: a
// change that only adds keeps it, so the firmware a trial rolls back to
// still starts on what the trial wrote. Absent, it is the schema itself.
package schemaver

import (
	"errors"
	"fmt"
	"strconv"
)

// ErrUnusable: the layout is newer than the build and does not say the
// build can use it, or its compat version is not one. Callers wrap it in
// their own schema error.
var ErrUnusable = errors.New("layout not usable by this build")

// Compat returns the layout's compat version (compat as stored; nil: the
// schema n) and whether a build of schema cur can use the layout: an
// older or equal schema it can (it migrates), a newer one only when its
// compat is at most cur.
func Compat(n int, compat []byte, cur int) (int, error) {
	c := n
	if compat != nil {
		var err error
		if c, err = strconv.Atoi(string(compat)); err != nil || c < 1 || c > n {
			return 0, fmt.Errorf("%w: schema %d with compat %q", ErrUnusable, n, compat)
		}
	}
	if n > cur && c > cur {
		return 0, fmt.Errorf("%w: schema %d, usable from schema %d on; this build is schema %d", ErrUnusable, n, c, cur)
	}
	return c, nil
}
