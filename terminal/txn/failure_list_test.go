package txn

import (
	"go/ast"
	"go/parser"
	"go/token"
	"slices"
	"strconv"
	"testing"
)

// TestFailuresListsEveryCode: every Failure constant of failure.go is in
// Failures, so the tables built from it (the display's texts) cover the
// codes added later too.
func TestFailuresListsEveryCode(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "failure.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, decl := range f.Decls {
		g, ok := decl.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, spec := range g.Specs {
			v := spec.(*ast.ValueSpec)
			if id, ok := v.Type.(*ast.Ident); !ok || id.Name != "Failure" {
				continue
			}
			for _, val := range v.Values {
				code, err := strconv.Unquote(val.(*ast.BasicLit).Value)
				if err != nil {
					t.Fatal(err)
				}
				n++
				if !slices.Contains(Failures, Failure(code)) {
					t.Errorf("failure %q is not in Failures", code)
				}
			}
		}
	}
	if n != len(Failures) {
		t.Errorf("%d codes declared, Failures lists %d", n, len(Failures))
	}
}
