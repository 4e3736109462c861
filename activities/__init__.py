"""Activities: every Nova call of the project, through openstacksdk."""
