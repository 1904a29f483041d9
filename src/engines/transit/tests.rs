//! Handler tests over a barrier-backed view.
