// Package auth reads and writes Mosquitto-compatible password files and ACL
// files, and answers the broker's two questions: "is this password right for
// this user?" and "may this client use this topic?".
//
// Password files hold one `user:hash` entry a line. Two hash formats are
// understood, both as written by mosquitto_passwd 2.0:
//
//	user:$7$ITERATIONS$SALT$HASH   PBKDF2-HMAC-SHA512, 64-byte key (the default)
//	user:$6$SALT$HASH              SHA512(password || salt) (Mosquitto 1.6 and earlier)
//
// SALT is 12 bytes and HASH is 64 bytes, both standard base64 with padding.
// Blank lines and lines starting with '#' are kept but ignored.
//
// ACL files use Mosquitto's format (topic, user and pattern lines); see
// [ParseACL] for the exact semantics and where they differ from Mosquitto.
//
// [Store] holds the parsed files behind atomic pointers so the broker can
// reload them (SIGHUP) while connections keep reading the old ones.
//
// Deviations from Mosquitto, each on purpose:
//   - New password files are created with mode 0600 (mosquitto_passwd uses
//     0644): the file holds password hashes. Rewrites keep an existing
//     file's mode and, where permitted, its owner and group, so a file the
//     broker's user could read stays readable.
//   - Rewrites are atomic (temporary file in the same directory, fsync,
//     rename, fsync of the directory), so a crash never leaves half a file.
//   - `passwd -U` skips entries that are already hashed instead of hashing
//     the hash again.
//   - Malformed `$6$`/`$7$` entries, empty user names and duplicate users are
//     errors naming FILE:LINE; plain-text entries are dropped with a warning,
//     as Mosquitto's broker does.
package auth
