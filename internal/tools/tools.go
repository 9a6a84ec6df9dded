//go:build tools

// Package tools pins dependencies before their first users land.
package tools

import (
	_ "github.com/creack/pty"
	_ "github.com/moov-io/bertlv"
	_ "github.com/moov-io/iso8583"
	_ "github.com/moov-io/iso8583-connection"
	_ "github.com/tarm/serial"
	_ "go.etcd.io/bbolt"
	_ "gocv.io/x/gocv"
	_ "periph.io/x/conn/v3"
	_ "periph.io/x/host/v3"
)
