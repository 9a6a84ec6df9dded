//go:build nocv

package face

import (
	"errors"
	"testing"
)

func TestNoOpenCV(t *testing.T) {
	c, err := New(Opts{})
	if !errors.Is(err, ErrUnavailable) || c != nil {
		t.Fatalf("New: %v, %v", c, err)
	}
	if err.Error() != "face pay unavailable: this build has no OpenCV" {
		t.Errorf("error text %q", err)
	}
	if OpenMats() != 0 {
		t.Error("mats in a nocv build")
	}
}
