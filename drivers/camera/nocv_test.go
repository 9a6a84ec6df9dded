//go:build nocv

package camera

import (
	"context"
	"errors"
	"testing"
)

func TestNewUnsupported(t *testing.T) {
	d, err := New("0", nil)
	if d != nil || !errors.Is(err, ErrUnsupported) {
		t.Fatalf("New = %v, %v; want nil, ErrUnsupported", d, err)
	}
	var ue *UnsupportedError
	if !errors.As(err, &ue) || ue.Src != "0" {
		t.Fatalf("error %T %v is not an *UnsupportedError for src 0", err, err)
	}
	if !IsFatal(err) {
		t.Fatal("ErrUnsupported should be fatal")
	}
	var nd *Dev
	if _, err := nd.Next(context.Background()); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("Next = %v", err)
	}
	if err := nd.Start(); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("Start = %v", err)
	}
	if err := nd.Halt(); err != nil {
		t.Fatalf("Halt = %v", err)
	}
	if err := nd.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
}
