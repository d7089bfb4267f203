package local

import (
	"testing"

	"github.com/avatar-api/avatar-api/internal/storage"
)

// TestListPartial: the temporary file of a Put whose process died is
// listed Partial under its directory's prefix, and Delete of its key
// removes it, and the directory left empty.
func TestListPartial(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tmp, f, err := b.store.createTemp("inputs/job-1")
	if err != nil {
		t.Fatalf("createTemp: %v", err)
	}
	if _, err := f.WriteString("half"); err != nil {
		t.Fatal(err)
	}
	_ = f.Close()
	var got []storage.Object
	if err := b.store.List(t.Context(), "inputs/", func(o storage.Object) error { got = append(got, o); return nil }); err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(got) != 1 || got[0].Key != tmp || !got[0].Partial || got[0].Size != 4 {
		t.Fatalf("List = %+v, want the partial %q of 4 bytes", got, tmp)
	}
	if err := b.store.Delete(t.Context(), tmp); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := b.store.root.Stat("inputs"); err == nil {
		t.Fatal("the directory of the deleted partial file is still there")
	}
}
