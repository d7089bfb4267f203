package main

import (
	"bufio"
	"fmt"
	"os"
	"strings"
)

// readExported is the set of family names of a list of one a line, as
// deploy/metrics.txt is written: blank lines and lines starting with #
// are left out.
func readExported(path string) (map[string]bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("the list of exported metrics: %w", err)
	}
	defer f.Close()
	names := map[string]bool{}
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := strings.TrimSpace(s.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		names[line] = true
	}
	if err := s.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("%s lists no metric", path)
	}
	return names, nil
}
