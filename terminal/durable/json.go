package durable

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// ReadJSON decodes the JSON file at path into v and reports whether the
// file exists: a missing file leaves v as it was. A file that does not
// decode is ErrUnreadable. It is the reading half of the small state
// files posd keeps beside its database (high-water marks), which
// WriteJSON replaces.
func ReadJSON(path string, v any) (bool, error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return true, fmt.Errorf("%w: %s: %w", ErrUnreadable, path, err)
	}
	return true, nil
}

// WriteJSON replaces path with v as indented JSON and a newline, durably
// (WriteFile).
func WriteJSON(path string, v any, perm os.FileMode) error {
	raw, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return WriteFile(path, append(raw, '\n'), perm)
}
