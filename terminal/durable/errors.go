package durable

import "errors"

// ErrUnreadable: a file ReadJSON read does not decode. The caller decides
// what that means (a damaged high-water mark stops posd: starting without
// it could reuse numbers).
var ErrUnreadable = errors.New("durable: file unreadable")
