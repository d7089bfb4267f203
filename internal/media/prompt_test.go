package media

import (
	"strings"
	"testing"
)

func TestValidatePrompt(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		in       string
		max      int
		want     string
		wantCode string
	}{
		{name: "empty", in: "", max: 10, want: ""},
		{name: "only spaces", in: "  \n\t ", max: 10, want: ""},
		{name: "trimmed", in: "  smile, then nod \n", max: 100, want: "smile, then nod"},
		{name: "newline and tab kept", in: "one\n\ttwo", max: 100, want: "one\n\ttwo"},
		{name: "windows newlines", in: "one\r\ntwo", max: 100, want: "one\ntwo"},
		{name: "runes not bytes", in: "héllo wörld ✨", max: 13, want: "héllo wörld ✨"},
		{name: "limit counts after trimming", in: "   abc   ", max: 3, want: "abc"},
		{name: "no limit", in: strings.Repeat("a", 5000), max: 0, want: strings.Repeat("a", 5000)},
		{name: "too long", in: "abcd", max: 3, wantCode: CodePromptTooLong},
		{name: "invalid utf-8", in: "abc\xff", max: 10, wantCode: CodeInvalidPrompt},
		{name: "nul", in: "a\x00b", max: 10, wantCode: CodeInvalidPrompt},
		{name: "escape", in: "\x1b[31mred", max: 20, wantCode: CodeInvalidPrompt},
		{name: "lone carriage return", in: "a\rb", max: 10, wantCode: CodeInvalidPrompt},
		{name: "c1 control", in: "a\u0085b", max: 10, wantCode: CodeInvalidPrompt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ValidatePrompt(tt.in, tt.max)
			if code := codeOf(err); code != tt.wantCode {
				t.Fatalf("code = %q, want %q (err %v)", code, tt.wantCode, err)
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
