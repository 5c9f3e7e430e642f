package auth

import (
	"errors"
	"sync"
	"sync/atomic"
)

// Store holds the broker's current password file and ACL. Readers get the
// current parsed files without locking; Reload parses the files again and
// swaps them in. A Store with neither path configured has nil files: no
// password file (the broker decides what that means) and no ACL (a nil ACL
// allows everything).
type Store struct {
	passwordPath string
	aclPath      string

	reload    sync.Mutex // serializes Reload
	passwords atomic.Pointer[PasswordFile]
	acl       atomic.Pointer[ACL]
}

// NewStore loads the files; an empty path means "not configured". The password file is read
// as Mosquitto's broker reads it (LoadBrokerPasswordFile): warnings are the entries skipped,
// which the broker should log; only a file that cannot be read is an error.
func NewStore(passwordPath, aclPath string) (*Store, []*LineError, error) {
	s := &Store{passwordPath: passwordPath, aclPath: aclPath}
	warnings, err := s.Reload()
	if err != nil {
		return nil, warnings, err
	}
	return s, warnings, nil
}

// Passwords returns the current password file, nil if none is configured.
func (s *Store) Passwords() *PasswordFile { return s.passwords.Load() }

// ACL returns the current ACL, nil (allow all) if none is configured.
func (s *Store) ACL() *ACL { return s.acl.Load() }

// Reload parses both files again. Only if both parse are they swapped in;
// on error the old password file and ACL both stay in force and the error
// names FILE:LINE (or the file that could not be read).
func (s *Store) Reload() ([]*LineError, error) {
	s.reload.Lock()
	defer s.reload.Unlock()
	var (
		pw       *PasswordFile
		acl      *ACL
		warnings []*LineError
		errs     []error
	)
	if s.passwordPath != "" {
		var err error
		pw, warnings, err = LoadBrokerPasswordFile(s.passwordPath)
		if err != nil {
			errs = append(errs, err)
		}
	}
	if s.aclPath != "" {
		var err error
		if acl, err = LoadACL(s.aclPath); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return warnings, errors.Join(errs...)
	}
	s.passwords.Store(pw)
	s.acl.Store(acl)
	return warnings, nil
}
