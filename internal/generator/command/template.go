package command

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode"
)

// placeholders are the names a template may use, each written in braces.
var placeholders = []string{"image", "audio", "audio_format", "prompt", "output", "width", "height", "fps", "seed", "duration"}

// placeholder matches anything shaped like a placeholder, known or not,
// so that a misspelt one ({imgae}, {Image}) is refused instead of passed
// on as text.
var placeholder = regexp.MustCompile(`\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// part is a piece of one argument: literal text, or a placeholder's name.
type part struct {
	text        string
	placeholder bool
}

// arg is one argument of the command: its parts, joined when expanded.
type arg []part

// expand joins the argument's parts, each placeholder replaced by its
// value. It is one pass: a value holding "{output}" stays as it is.
func (a arg) expand(values map[string]string) string {
	var b strings.Builder
	for _, p := range a {
		if p.placeholder {
			b.WriteString(values[p.text])
		} else {
			b.WriteString(p.text)
		}
	}
	return b.String()
}

// parseTemplate splits the template into the program and its arguments,
// and finds the placeholders in each argument. The rule (no shell):
//   - whitespace separates arguments;
//   - a single- or double-quoted stretch belongs to the argument it is in,
//     whitespace and all, and the quotes are dropped: 'a b' and "a b" are
//     one argument, --out="a b" is --out=a b, and a pair of quotes with
//     nothing between them is an empty argument;
//     inside quotes every character is itself (the other quote too);
//   - nothing else is special: no backslash escapes, no $ or ~ or glob
//     expansion, no redirection, no pipes;
//   - then, in each argument, quoted or not, {name} is a placeholder
//     (placeholders); another {name} is refused, while braces around
//     anything else ({"a": 1}) are text.
//
// The program (the first word) must be neither empty nor a placeholder,
// and {output} must appear somewhere: the command must be told where to
// write the video.
func parseTemplate(template string) (program string, args []arg, err error) {
	words, err := split(template)
	if err != nil {
		return "", nil, err
	}
	if len(words) == 0 || words[0] == "" {
		return "", nil, errors.New("command template: it names no program")
	}
	if placeholder.MatchString(words[0]) {
		return "", nil, fmt.Errorf("command template: the program %q holds a placeholder; it must be fixed", words[0])
	}
	output := false
	for i, w := range words[1:] {
		a, err := parseArg(w)
		if err != nil {
			return "", nil, fmt.Errorf("command template: argument %d (%q): %w", i+1, w, err)
		}
		output = output || slices.Contains(a, part{text: "output", placeholder: true})
		args = append(args, a)
	}
	if !output {
		return "", nil, errors.New("command template: it has no {output}, so the command could not know where to write the video")
	}
	return words[0], args, nil
}

// split cuts the template into words by the rule of parseTemplate.
func split(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	var quote rune
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case unicode.IsSpace(r):
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("command template: a %c quote is not closed", quote)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// parseArg finds the placeholders in one argument.
func parseArg(w string) (arg, error) {
	var a arg
	last := 0
	for _, m := range placeholder.FindAllStringSubmatchIndex(w, -1) {
		name := w[m[2]:m[3]]
		if !slices.Contains(placeholders, name) {
			return nil, fmt.Errorf("unknown placeholder {%s}; the placeholders are {%s}", name, strings.Join(placeholders, "} {"))
		}
		if m[0] > last {
			a = append(a, part{text: w[last:m[0]]})
		}
		a = append(a, part{text: name, placeholder: true})
		last = m[1]
	}
	if last < len(w) || len(a) == 0 {
		a = append(a, part{text: w[last:]})
	}
	return a, nil
}
