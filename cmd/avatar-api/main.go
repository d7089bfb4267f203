// Command avatar-api is the Avatar API service and its operator tools.
package main

import (
	"os"

	"github.com/avatar-api/avatar-api/internal/cli"
)

func main() { os.Exit(cli.Run(os.Args[1:])) }
