//go:build !unix

package auth

import (
	"io/fs"
	"os"
)

func keepOwner(*os.File, fs.FileInfo) {}

func syncDir(string) {}
