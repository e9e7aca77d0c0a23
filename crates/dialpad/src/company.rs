//! company
