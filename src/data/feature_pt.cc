// placeholder: implemented with the data layer
