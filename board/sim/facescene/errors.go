package facescene

import "errors"

// ErrScene: the scene names an unknown subject, attack or action, or a
// bad size.
var ErrScene = errors.New("facescene: bad scene")
