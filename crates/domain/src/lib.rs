//! rolegate's domain: users, roles and permissions, the validated types that
//! describe them, and the use cases (sign up, sign in) written against ports.
//!
//! This crate knows no web framework, no ORM, no JWT library and no hashing
//! library: `rolegate-persistence` and `rolegate-auth` implement its ports,
//! `rolegate-api` drives its use cases.

pub mod access;
pub mod admin;
pub mod error;
pub mod ports;
pub mod throttle;
pub mod types;
pub mod usecases;

pub use admin::{
    Actor, AdminDeps, AdminError, AdminService, AdminStore, AuditEvent, Bootstrap, Change,
    CreateUser, NewAuditEvent, NewRole, Operator, Page, PageRequest, PermissionInfo, Precondition,
    RoleInfo, UserProfile, UserSummary, perms,
};
pub use error::{AuthError, FieldErrors, StoreError, UniqueField};
pub use ports::{
    AccessSubject, AttemptStore, Attempts, Clock, HashError, HealthCheck, IssuedToken, LoginRecord,
    ManualClock, NewRefreshToken, NewUser, PasswordHasher, RefreshRecord, RefreshSecrets,
    SessionStore, SystemClock, TokenError, TokenIssuer, UserCredentials, UserStore,
};
pub use throttle::{Limit, Limits, MemoryAttempts, Throttle};
pub use types::{Email, Password, PasswordHash, Permission, RoleName, UserId, Username};
pub use usecases::{AuthDeps, AuthPolicy, AuthService, IssuedRefresh, Refreshed, SignUp, SignedIn};
