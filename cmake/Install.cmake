# Install rules: headers, the library, a CMake package
# (find_package(sqlsteward CONFIG) -> sqlsteward::sqlsteward) and a
# pkg-config file.
include(CMakePackageConfigHelpers)

install(TARGETS sqlsteward EXPORT sqlstewardTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY include/sqlsteward DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT sqlstewardTargets NAMESPACE sqlsteward::
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/sqlsteward)

configure_package_config_file(cmake/sqlstewardConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/sqlstewardConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/sqlsteward)
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/sqlstewardConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/sqlstewardConfig.cmake
              ${CMAKE_CURRENT_BINARY_DIR}/sqlstewardConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/sqlsteward)

file(RELATIVE_PATH SQLSTEWARD_PC_TO_PREFIX "/prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/prefix")
configure_file(cmake/sqlsteward.pc.in ${CMAKE_CURRENT_BINARY_DIR}/sqlsteward.pc @ONLY)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/sqlsteward.pc
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
