//! placeholder, replaced by the simulation
