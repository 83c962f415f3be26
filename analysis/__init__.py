"""Pure computation for MedWS: numpy, SimpleITK and (lazily) torch. No Qt, no VTK, none of our packages."""
