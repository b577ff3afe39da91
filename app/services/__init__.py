"""Operations of the service: each one transaction over repositories, with its audit entry."""
